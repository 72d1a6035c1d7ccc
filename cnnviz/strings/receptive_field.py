"""The receptive-field explorer: stacks, units, boxes, effective fields and the parameter table."""

EN = {
    "rf.title": "Receptive fields",
    "rf.intro": "Click a unit on the picture to see the input region it can see (its receptive field, red) and, "
                "below, the pixels that actually drive it (the effective receptive field).",
    "rf.preset": "Start from",
    "rf.preset_help": "A stack from a tutorial or a famous network. Editing the table below keeps its name as where "
                      "you started.",
    "rf.preset.mnist": "Classic MNIST net (conv3, pool2, conv3, pool2)",
    "rf.preset.three_3x3": "Three 3×3 convs",
    "rf.preset.one_7x7": "One 7×7 conv",
    "rf.preset.dilated": "Dilated stack (dilations 1, 2, 4)",
    "rf.preset.alexnet": "AlexNet features",
    "rf.preset.vgg16": "VGG-16 features",
    "rf.preset.resnet18_stem": "ResNet-18 stem (conv7 s2, maxpool3 s2)",
    "rf.preset.session": "The network trained in this session",
    "rf.no_session": "No network has been trained or loaded in this session yet: train one on the Train page, or "
                     "load a checkpoint there.",
    "rf.started_from_session": "Showing the network trained in this session ({label}). Choose another stack under "
                               "Start from.",
    "rf.reset": "Back to the preset's layers",
    "rf.kind.conv": "conv",
    "rf.kind.max": "max pool",
    "rf.kind.avg": "avg pool",
    "rf.col.kind": "kind",
    "rf.col.k": "k",
    "rf.col.s": "s",
    "rf.col.p": "p",
    "rf.col.d": "d",
    "rf.col.k_help": "Kernel (or pooling window) side",
    "rf.col.s_help": "Stride: how far the window moves per output unit",
    "rf.col.p_help": "Zero padding added on each side",
    "rf.col.d_help": "Dilation: spacing between the window's taps (1 = dense)",
    "rf.bad_layer": "Layer {index}: {reason}. It is left out until you fix it.",
    "rf.empty_stack": "A stack needs at least one layer: the last one is kept.",
    "rf.too_many": "A stack holds at most {most} layers: the new rows are left out.",
    "rf.move_up": "Up",
    "rf.move_down": "Down",
    "rf.remove": "Remove",
    "rf.add_conv": "conv",
    "rf.add_max": "max",
    "rf.add_avg": "avg",
    "rf.stack_help": "The buttons act on the chosen layer (▶). Change kind, k, s, p and d in the table; add a row "
                     "with + under it, delete rows by ticking them and pressing the bin.",
    "rf.input": "Input",
    "rf.working_size": "Working size (longer side, px)",
    "rf.working_size_help": "Images are scaled down to this size. At most 256 px, so the gradient for the effective "
                            "field takes milliseconds on a CPU. The MNIST digit stays 28×28.",
    "rf.network": "Network",
    "rf.channels": "Channels C",
    "rf.channels_help": "Channels of every conv, for the parameter counts. The random network for the effective field "
                        "uses at most 16 of them.",
    "rf.seed": "Seed of the random weights",
    "rf.seed_help": "The same seed always gives the same random network and the same effective field.",
    "rf.layer": "Layer",
    "rf.unit_row": "Unit row",
    "rf.unit_col": "Unit column",
    "rf.unit_row_only": "One row of units.",
    "rf.unit_col_only": "One column of units.",
    "rf.nested": "Show the same place in earlier layers",
    "rf.nested_help": "For every earlier layer, the box of its unit centred nearest the chosen one: the fields nest "
                      "and grow with depth.",
    "rf.unit_title": "**Unit ({row}, {col})** of **{name}** (output {out})",
    "rf.unit_box": "sees input rows {top} … {bottom} and columns {left} … {right}: a field of **{size}** px, "
                   "neighbouring units {jump} px apart. **{pad}%** of the field is padding.",
    "rf.legend_chosen": "{name}: {size} px (chosen)",
    "rf.legend_layer": "{name}: {size}",
    "rf.legend_padding": "padding",
    "rf.click_help": "Dots mark the centres of this layer's units. Click the picture, or use the sliders, to choose one.",
    "rf.click_help_dense": "Units are too close together to mark. Click the picture, or use the sliders, to choose one.",
    "rf.claims.three_3x3": "**Tutorial check:** three stacked 3×3 convs see a 7×7 region.",
    "rf.claims.mnist": "**Tutorial check:** the classic MNIST net's last layer.",
    "rf.claim": "{name}: tutorial **{tutorial}**, this app **{app}** {mark}",
    "rf.claim.size": "Field size",
    "rf.claim.jump": "Jump (effective stride)",
    "rf.claim.start": "Start (first input position of unit 0)",
    "rf.erf_title": "Effective receptive field",
    "rf.erf_intro": "How strongly each input pixel moves the chosen unit: the gradient of the unit with respect to the "
                    "input (Luo et al., 2016), brighter for more (colours follow its square root, so weak pixels "
                    "still show). Red: the theoretical field. Cyan circle: as many pixels as the fewest that hold "
                    "{mass}% of the gradient, centred where the gradient is.",
    "rf.random_caption": "Random weights (PyTorch's default initialisation, seed {seed}, {channels} channels)",
    "rf.trained_caption": "Trained weights: {label}",
    "rf.untrained": " (not trained yet: it has not taken a step)",
    "rf.fraction": "{mass}% of the gradient lies in **{region}** of the **{box}** pixels of the field inside the "
                   "image: **{pct}%** of it.",
    "rf.dead": "No gradient reaches this unit: every path to it passes a ReLU that is off for this input. Try "
               "another seed, unit or image.",
    "rf.trained_none": "Train a network on the Train page (or load a checkpoint there) to compare trained weights "
                       "with random ones here.",
    "rf.trained_other": "This session has a trained network ({label}). Show its layers to compare its effective "
                        "field with random weights on an MNIST digit.",
    "rf.use_session": "Use the network trained in this session",
    "rf.trained_digit": "Trained weights need the {size}×{size} MNIST digit: choose it as the sample image.",
    "rf.erf_note": "The gradient is taken on the {h}×{w} working image; images are at most {most} px on a side here "
                   "so it stays quick on a CPU.",
    "rf.table_title": "Layer by layer",
    "rf.th.name": "name",
    "rf.th.out": "output",
    "rf.th.size": "field size",
    "rf.th.jump": "jump",
    "rf.th.start": "start",
    "rf.th.params": "parameters",
    "rf.table_note": "Parameters with C = {channels} channels in every conv (the first conv takes the image's "
                     "{image}): C_in·C_out·k·k + C_out each, {total} in all. Pooling has none.",
    "rf.compare": "**Three 3×3 layers or one 7×7?** Three 3×3 layers see {small_field}×{small_field} with "
                  "3·3·3·C² = 27C² = **{small}** weights (C = {c}) and 3 ReLUs; one 7×7 layer sees "
                  "{large_field}×{large_field} with 7·7·C² = 49C² = **{large}** weights and 1 ReLU. The stack is "
                  "{saved}% smaller and more non-linear.",
    "rf.impossible": "This stack cannot run on a {h}×{w} input: {reason}. Remove or change that layer, or use a "
                     "larger input.",
    "rf.upload_link_note": "A link cannot carry your uploaded image: whoever opens it sees the sample image instead.",
}
