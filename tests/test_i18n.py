"""The string catalog: every key the UI asks for exists, and lookups behave."""
import dataclasses
import re
import string
from pathlib import Path

import pytest

from cnnviz import exercises, i18n, model
from cnnviz.analysis import digits
from cnnviz.conv import geometry, kernels, pipeline, samples, upsample
from cnnviz.figures import maps
from cnnviz.figures.signals import SignalText
from cnnviz.figures.training import FigureText
from cnnviz.graph import attribution as graph_attribution
from cnnviz.graph import preprocess
from cnnviz.i18n import CATALOG, LANGUAGES, t
from cnnviz.pages import backward as backward_page
from cnnviz.pages import inspector as inspector_page
from cnnviz.pages import kernel_lab as kernel_lab_page
from cnnviz.pages import lessons as lessons_page
from cnnviz.pages import receptive_field as rf_page
from cnnviz.pages import signals as signals_page
from cnnviz.pages import step as step_page
from cnnviz.pages import your_network as yours_page
from cnnviz.training import config, job

ROOT = Path(__file__).resolve().parents[1]
# tr("key"...) and t("key"...) calls with a literal key. Keys may hold hyphens: pages' url paths name some
# ("lessons.page.receptive-field").
KEY_CALL = re.compile(r"""\btr?\(\s*["']([a-z0-9_]+\.[a-z0-9_.-]+)["']""")


def _keys_used_in_ui() -> set[str]:
    sources = [ROOT / "app.py", *(ROOT / "cnnviz" / "ui").rglob("*.py")]
    return {key for path in sources for key in KEY_CALL.findall(path.read_text())}


def test_every_key_used_by_the_ui_is_in_the_english_catalog():
    used = _keys_used_in_ui()
    assert "nav.kernel_lab" in used  # the scan itself works
    missing = sorted(used - CATALOG["en"].keys())
    assert missing == []


def test_lookup_formats_placeholders():
    CATALOG["en"]["test.greeting"] = "Hello {name}"
    try:
        assert t("test.greeting", name="Ada") == "Hello Ada"
    finally:
        del CATALOG["en"]["test.greeting"]


def test_unknown_language_falls_back_to_english():
    assert t("nav.kernel_lab", lang="xx") == CATALOG["en"]["nav.kernel_lab"]


def test_missing_key_is_an_error():
    with pytest.raises(KeyError, match="no.such.key"):
        t("no.such.key")


def test_every_placeholder_is_well_formed():
    import string

    for key, text in CATALOG["en"].items():
        try:
            list(string.Formatter().parse(text))
        except ValueError as error:
            pytest.fail(f"{key}: {error}")
    with pytest.raises(ValueError):  # the check itself can fail
        list(string.Formatter().parse("a stray { brace"))


def test_duplicate_keys_across_areas_are_refused(monkeypatch):
    from types import SimpleNamespace

    a = SimpleNamespace(__name__="a", EN={"x.k": "1"})
    b = SimpleNamespace(__name__="b", EN={"x.k": "2"})
    monkeypatch.setattr(i18n, "_area_modules", lambda: [a, b])
    with pytest.raises(ValueError, match="x.k"):
        i18n._build_catalog()


# --- both languages are complete ----------------------------------------------------------------------------


# Core modules raise catalog keys: UserError("error.x", ...), Text("error.x"), ImageError("error.x"), ...
ERROR_CALL = re.compile(r"""\b(?:UserError|Text|ImageError|DataError|CheckpointError)\(\s*["'](error\.[a-z0-9_.]+)["']""")
# A key built at run time: f"prefix.{anything}suffix", in the UI or the core.
BUILT_KEY = re.compile(r"""\bf(["'])([a-z_]+\.[a-z0-9_.-]*)\{[^}]*\}([a-z0-9_.-]*)\1""")
# ... or a widget's options: format_func=tr_option("prefix.") labels option x with "prefix.x".
OPTION_KEY = re.compile(r"""\btr_option\(\s*["']([a-z0-9_.]+)["']\s*\)""")


def _sources() -> list[Path]:
    return [ROOT / "app.py", *(ROOT / "cnnviz").rglob("*.py")]


# A value a built key is made from: letters, digits, underscores and the hyphens of url paths.
KEY_PART = r"[a-z0-9_-]+"


def _built_patterns() -> set[tuple[str, str]]:
    """(prefix, suffix) of every key the code builds: f"prefix{...}suffix" and tr_option("prefix"). An f-string
    outside the catalog's areas is not a key (export.py writes f"nn.{module!r}" into generated code)."""
    areas = {key.split(".")[0] for key in CATALOG["en"]}
    texts = [path.read_text() for path in _sources()]
    patterns = {(m.group(2), m.group(3)) for text in texts for m in BUILT_KEY.finditer(text)}
    patterns |= {(prefix, "") for text in texts for prefix in OPTION_KEY.findall(text)}
    return {(prefix, suffix) for prefix, suffix in patterns if prefix.split(".")[0] in areas}


def _page_sections() -> set[str]:
    """The sections pages let presentation mode hide: page_header(..., sections=("kernel", ...))."""
    found = set()
    for path in (ROOT / "cnnviz" / "ui").rglob("*.py"):
        for names in re.findall(r"sections=\(([^)]*)\)", path.read_text()):
            found |= set(re.findall(r"""["']([a-z0-9_]+)["']""", names))
    return found


def runtime_keys() -> set[str]:
    """Every key the code builds with an f-string, for every value it can be built from."""
    keys = {f"lang.{language}" for language in LANGUAGES}
    for preset in kernels.KERNEL_PRESETS.values():
        keys |= {preset.name_key, preset.why_key, *(spec.label_key for spec in preset.params)}
    keys |= {sample.label_key for sample in samples.SAMPLES}
    keys |= {f"kl.colour.{c}" for c in ("gray", "rgb")} | {f"kl.kernel_to_{c}" for c in ("gray", "rgb")}
    keys |= {f"kl.activation.{a}" for a in pipeline.MAP_ACTIVATIONS} | {f"kl.pool.{p}" for p in geometry.POOL_KINDS}
    keys |= {f"kl.display.{d}" for d in kernel_lab_page.DISPLAYS} | {f"kl.scale.{m}" for m in maps.DISPLAY_MODES}
    keys |= {f"kl.stage.{s}" for s in ("input", "conv", "activation", "pool")}
    keys |= {f"up.weights.{w}" for w in upsample.WEIGHTS} | {f"up.resize.{r}" for r in upsample.RESIZES}
    keys |= {f"widgets.source.{s}" for s in ("sample", "upload", "camera")}
    keys |= {f"widgets.waiting_{s}" for s in ("upload", "camera")}
    keys |= {f"widgets.padding.{p}" for p in ("valid", "same", "custom")}
    keys |= {f"widgets.mode.{m}" for m in geometry.PADDING_MODES} | {f"widgets.channel.{c}" for c in "rgb"}
    keys |= {f"step.example.{name}" for name in step_page.EXAMPLES} | {f"step.op.{o}" for o in step_page.OPERATIONS}
    keys |= {f"step.{kind}_title" for kind in ("max", "avg")}
    keys |= {f"bw.gradient.{g}" for g in backward_page.GRADIENTS}
    keys |= {f"train.preset.{p}" for p in model.NETWORK_PRESETS} | {f"train.act.{a}" for a in model.LAYER_ACTIVATIONS}
    keys |= {f"train.preset_about.{p}" for p in model.NETWORK_PRESETS}
    keys |= {f"train.pool.{p}" for p in geometry.POOL_KINDS} | {f"train.optimizer.{o}" for o in config.OPTIMIZERS}
    keys |= {f"train.schedule.{s}" for s in config.SCHEDULES} | {f"train.device.{d}" for d in config.DEVICES}
    keys |= {f"train.state.{s}" for s in job.STATES}
    keys |= {f"fig.{field.name}" for field in dataclasses.fields(FigureText)}
    keys |= {f"error.ops.kernel_spans_{axis}" for axis in ("rows", "cols")}
    keys |= {f"error.checkpoint.{kind}" for kind in ("missing", "unexpected", "wrong_shape")}
    keys |= {f"error.data.split.{split}" for split in ("train", "test")}
    keys |= {f"sections.{name}" for name in _page_sections()}
    keys |= {f"rf.preset.{name}" for name in rf_page.PRESET_NAMES}
    keys |= {f"rf.kind.{kind}" for kind in geometry.LAYER_KINDS} | {f"rf.add_{kind}" for kind in geometry.LAYER_KINDS}
    keys |= {f"rf.claims.{preset}" for preset in rf_page.TUTORIAL_CLAIMS}
    keys |= {f"rf.claim.{name}" for claims in rf_page.TUTORIAL_CLAIMS.values() for name, _ in claims}
    keys |= {f"rf.col.{column}" for column in ("kind", "k", "s", "p", "d")}
    keys |= {f"rf.col.{column}_help" for column in ("k", "s", "p", "d")}
    keys |= {f"rf.th.{column}" for column in ("name", "out", "size", "jump", "start", "params")}
    keys |= {f"insp.source.{s}" for s in inspector_page.SOURCES} | {f"insp.empty.{s}" for s in inspector_page.SOURCES}
    keys |= {f"insp.link_note_{s}" for s in ("draw", "upload")}
    keys |= {f"insp.view.{v}" for v in inspector_page.VIEWS} | {f"insp.scaling.{s}" for s in inspector_page.SCALINGS}
    keys |= {f"insp.method.{m}" for m in inspector_page.METHODS} | {f"insp.method_why.{m}" for m in inspector_page.METHODS}
    keys |= {f"insp.ink.{i}" for i in digits.INK_MODES} | {f"insp.scale.{s}" for s in ("signed", "gray")}
    keys |= {f"insp.model_from.{source}" for source in ("run", "checkpoint", "untrained")}
    keys |= {f"lessons.{lesson.key}.{part}" for lesson in lessons_page.LESSONS for part in ("title", "text")}
    keys |= {f"lessons.page.{lesson.path}" for lesson in lessons_page.LESSONS}
    keys |= {label for lesson in lessons_page.LESSONS for label, _ in lesson.also}
    keys |= {f"lessons.{lesson.key}.also" for lesson in lessons_page.LESSONS if lesson.also}
    keys |= {f"sig.source.{s}" for s in signals_page.SOURCES} | {f"sig.kernel.{k}" for k in signals_page.KERNELS}
    keys |= {f"sig.fig.{field.name}" for field in dataclasses.fields(SignalText)}
    keys |= {f"ex.{kind}.prompt" for kind in exercises.KINDS if kind != "pool"}
    keys |= {f"ex.pool.prompt_{kind}" for kind in ("max", "avg")} | {f"ex.rf.{kind}" for kind in ("conv", "max")}
    keys |= {f"ex.hint.pool_window_{kind}" for kind in ("max", "avg")}
    keys |= {f"ex.hint.{kind}_{bias}" for kind in ("params", "separable") for bias in ("bias", "no_bias")}
    keys |= {f"ex.{part}.{kind}" for kind in exercises.KINDS for part in ("kind", "placeholder", "open")}
    keys |= {f"ex.level.{level}" for level in exercises.LEVELS}
    keys |= {f"yours.model.{m}" for m in (*yours_page.DEMOS, yours_page.UPLOAD)}
    keys |= {f"yours.format.{f}" for f in yours_page.FORMATS} | {f"yours.norm.{n}" for n in preprocess.NORMS}
    keys |= {f"yours.picture.{s}" for s in yours_page.IMAGE_SOURCES}
    keys |= {f"yours.source.{s}" for s in ("pt2", "onnx", "checkpoint")}
    keys |= {f"yours.{part}.{m}" for m in graph_attribution.METHODS for part in ("method", "method_why")}
    keys |= {f"yours.grid_help.{scale}" for scale in ("signed", "gray")}
    return keys


def test_every_key_built_at_run_time_is_walked():
    """A new f-string key fails here until runtime_keys() walks its values (so the next test checks them)."""
    walked = runtime_keys()
    patterns = _built_patterns()
    assert ("kl.activation.", "") in patterns and ("step.", "_title") in patterns  # the scan itself works
    assert ("lessons.page.", "") in patterns and ("lessons.", ".text") in patterns  # ... f-strings with a suffix too
    assert ("sections.", "") in patterns and not any(prefix == "nn." for prefix, _ in patterns)
    unwalked = sorted(prefix + "{…}" + suffix for prefix, suffix in patterns
                      if not any(re.fullmatch(re.escape(prefix) + KEY_PART + re.escape(suffix), key)
                                 for key in walked))
    assert unwalked == []


def test_the_walk_reaches_keys_with_hyphens():
    assert "lessons.page.receptive-field" in runtime_keys()
    assert re.fullmatch(re.escape("lessons.page.") + KEY_PART, "lessons.page.step-by-step")
    assert KEY_CALL.findall('tr("lessons.page.kernel-lab")') == ["lessons.page.kernel-lab"]
    assert _page_sections() >= {"kernel", "editors", "network"}  # the scan of page_header(sections=...) works


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_exists_in_every_language(language):
    used = _keys_used_in_ui() | runtime_keys()
    used |= {key for path in _sources() for key in ERROR_CALL.findall(path.read_text())}
    assert "error.geometry.window_spans" in used and "kernels.gabor.why" in used  # the scans work
    assert sorted(used - CATALOG[language].keys()) == []


def test_both_languages_have_the_same_keys():
    assert sorted(CATALOG["en"].keys() - CATALOG["zh"].keys()) == []  # missing in Chinese
    assert sorted(CATALOG["zh"].keys() - CATALOG["en"].keys()) == []  # a Chinese key English does not have


def placeholders(text: str) -> list[tuple[str, str, str]]:
    """Each {field!conversion:spec} of a format string, sorted."""
    return sorted((name, conversion or "", spec or "") for _, name, spec, conversion in string.Formatter().parse(text)
                  if name is not None)


def test_placeholders_are_the_same_in_every_language():
    differ = {key: (placeholders(CATALOG["en"][key]), placeholders(text))
              for key, text in CATALOG["zh"].items() if placeholders(text) != placeholders(CATALOG["en"][key])}
    assert differ == {}


def test_placeholder_check_catches_a_renamed_field():
    assert placeholders("第 {row} 行") != placeholders("row {r}")
    assert placeholders("{lr:g}") != placeholders("{lr}")  # a lost format spec counts too
    assert placeholders("{value!r}，{name}") == placeholders("{name} = {value!r}")


def test_chinese_text_uses_full_width_punctuation_in_sentences():
    # An ASCII comma or colon between two Chinese characters reads as machine output. Tuples written as code,
    # such as (行, 列), keep theirs.
    han = r"[\u4e00-\u9fff]"

    def prose(text: str) -> str:
        while re.search(r"\([^()]*\)", text):
            text = re.sub(r"\([^()]*\)", "", text)
        return text

    offenders = {key: text for key, text in CATALOG["zh"].items() if re.search(rf"{han}[,:;?!] ?{han}", prose(text))}
    assert offenders == {}
    assert re.search(rf"{han}[,:;?!] ?{han}", prose("行, 列（{x}）")) and not re.search(rf"{han}[,:;?!] ?{han}", prose("(行, 列)"))


def test_chinese_is_chinese():
    # Every Chinese text that differs from English has Chinese in it, except what stays the same by design.
    same_by_design = {key for key, text in CATALOG["en"].items() if CATALOG["zh"].get(key) == text}
    untranslated = {key for key in same_by_design if re.search(r"[a-z]{4,}", CATALOG["en"][key])
                    and not re.search(r"[\u4e00-\u9fff]", CATALOG["zh"][key])}
    # Names that read the same in a Chinese tutorial: algorithms, libraries, units.
    proper = {"app.title", "lang.en", "kernels.sobel_x.name", "kernels.sobel_y.name", "kernels.prewitt_x.name",
              "kernels.prewitt_y.name", "kernels.scharr_x.name", "kernels.scharr_y.name", "kernels.gabor.name",
              "train.act.relu", "train.act.leaky_relu", "train.act.tanh", "train.act.gelu", "train.optimizer.adam",
              "train.optimizer.adamw", "train.optimizer.rmsprop", "train.schedule.onecycle", "train.device.cpu",
              "kl.activation.leaky_relu", "yours.format.pt2", "yours.format.onnx", "yours.source.pt2"}
    assert sorted(untranslated - proper) == []


def _markdown_punctuation(char: str) -> bool:
    import unicodedata

    return unicodedata.category(char)[0] in "PS"  # CommonMark 0.31: Unicode punctuation and symbols


def bold_problems(text: str) -> list[int]:
    """Positions of ** runs that CommonMark cannot open or close where the text means to: "**参数量：**1" stays
    literal, because a closing ** after full-width punctuation must be followed by a space or punctuation."""
    text = re.sub(r"\{[^{}]*\}", "1", text)  # placeholders hold plain values
    problems = []
    for number, match in enumerate(re.finditer(r"\*\*", text)):
        before = text[match.start() - 1] if match.start() else " "
        after = text[match.end()] if match.end() < len(text) else " "
        if number % 2 == 0:  # opener: left-flanking
            ok = not after.isspace() and (not _markdown_punctuation(after) or before.isspace()
                                          or _markdown_punctuation(before))
        else:  # closer: right-flanking
            ok = not before.isspace() and (not _markdown_punctuation(before) or after.isspace()
                                           or _markdown_punctuation(after))
        if not ok:
            problems.append(match.start())
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_bold_text_renders_bold(language):
    assert {key: text for key, text in CATALOG[language].items() if bold_problems(text)} == {}


def test_bold_check_catches_cjk_punctuation_before_a_closer():
    assert bold_problems("**参数量：**1×3") == [6]
    assert bold_problems("**参数量**：1×3") == [] and bold_problems("准确率 **{a}**（损失") == []


def test_every_catalog_key_is_used():
    # Dead strings cost translators time: a key must appear in the code, be one the code builds at run time, or
    # match a prefix the code builds keys from (f"rf.kind.{kind}", tr_option("kl.activation.")).
    code = "\n".join(path.read_text() for path in _sources() if "strings" not in path.parts)
    built = [re.compile(re.escape(prefix) + KEY_PART + re.escape(suffix) + "$") for prefix, suffix in _built_patterns()]
    walked = runtime_keys()
    assert any(p.match("kl.activation.relu") for p in built) and not any(p.match("kl.no_such_key") for p in built)
    unused = [key for key in CATALOG["en"] if key not in code and key not in walked and not any(p.match(key) for p in built)]
    assert unused == []
