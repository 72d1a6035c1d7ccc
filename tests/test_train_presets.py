"""The tutorials' networks as Train page presets: hidden FC widths in links and the text box, each preset's
recipe, old links with one hidden width, and the page choosing every preset (nothing is trained here)."""
import pytest

from apptest_kit import page_state, run_page
from cnnviz.model import NETWORK_PRESETS, TUTORIAL_PRESETS, ModelConfig, summarize
from cnnviz.pages.train import TrainPageState, format_hidden, parse_hidden
from cnnviz.training.config import PRESET_RECIPES, TrainConfig, preset_recipe


@pytest.mark.parametrize(("text", "widths"), [("1024, 128", (1024, 128)), ("1024,128", (1024, 128)),
                                              (" 64 ", (64,)), ("0", ()), ("", ()), ("12 7 5", (12, 7, 5)),
                                              ("4096", (4096,))])
def test_hidden_widths_from_text(text, widths):
    assert parse_hidden(text) == widths
    assert parse_hidden(format_hidden(widths)) == widths


@pytest.mark.parametrize(("text", "match"), [("1024, 0", "'0' is not a width in 1..4096"), ("64, x", "'x'"),
                                             ("4097", "'4097'"), ("-5", "'-5'"), ("2.5", "'2.5'"),
                                             ("1,2,3,4,5", "5 hidden layers; the page builds 0 to 4")])
def test_bad_hidden_text_says_what_is_wrong(text, match):
    with pytest.raises(ValueError, match=match):
        parse_hidden(text)


def test_format_hidden():
    assert format_hidden((1024, 128)) == "1024, 128" and format_hidden(()) == "0"


def test_hidden_widths_travel_in_the_link():
    state = TrainPageState(hidden=(1024, 128))
    assert state.to_query() == {"fc": "1024,128"}
    assert TrainPageState.from_query({"fc": "1024,128"}) == (state, [])
    assert TrainPageState(hidden=()).to_query() == {"fc": "0"}
    assert TrainPageState.from_dict(state.to_dict()) == (state, [])
    assert state.to_dict()["hidden"] == [1024, 128]


@pytest.mark.parametrize(("query", "widths"), [({"fc": "64"}, (64,)), ({"fc": "0"}, ()), ({"fc": "512"}, (512,)),
                                               ({"net": "classic", "fc": "32"}, (32,))])
def test_old_links_with_one_hidden_width_still_open(query, widths):
    state, ignored = TrainPageState.from_query(query)
    assert state.hidden == widths and ignored == []
    assert state.model_config.hidden == widths


@pytest.mark.parametrize("old", [64, 0])
def test_old_session_states_with_one_hidden_int_still_load(old):
    data = TrainPageState().to_dict()
    data["hidden"] = old
    state, ignored = TrainPageState.from_dict(data)
    assert state.hidden == ((old,) if old else ()) and ignored == []


@pytest.mark.parametrize("value", [["64", "x"], [64, 0], -3, True, "abc", [1, 2, 3, 4, 5]])
def test_bad_hidden_values_fall_back_and_are_listed(value):
    state, ignored = TrainPageState.from_dict({"hidden": value})
    assert state.hidden == TrainPageState().hidden and ignored == ["hidden"]
    if isinstance(value, (int, list)) and not isinstance(value, bool):
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        assert TrainPageState.from_query({"fc": text}) == (TrainPageState(), [f"fc={text}"])


def test_a_preset_with_its_recipe():
    state = TrainPageState(subset=1000, seed=7).with_recipe("four_conv")
    assert state.model_config == NETWORK_PRESETS["four_conv"]
    assert (state.optimizer, state.lr, state.schedule, state.batch_size, state.epochs) == ("sgd", 0.01, "constant", 64, 20)
    assert (state.subset, state.seed) == (1000, 7)  # the user's, not the tutorial's
    assert state.to_query() == {"net": "four_conv", "opt": "sgd", "sch": "constant", "bs": "64", "ep": "20",
                                "n": "1000", "seed": "7"}


@pytest.mark.parametrize("name", sorted(NETWORK_PRESETS))
def test_every_preset_with_its_recipe_round_trips_through_a_link(name):
    state = TrainPageState().with_recipe(name)
    assert TrainPageState.from_query(state.to_query()) == (state, [])
    assert TrainPageState.from_dict(state.to_dict()) == (state, [])
    recipe = preset_recipe(name)
    assert state.train_config == TrainConfig(**{**recipe.to_dict(), "eval_every": state.train_config.eval_every})


def test_a_preset_alone_keeps_the_default_training():
    # ?net=classic meant the classic network with the default training before presets brought recipes: it still does.
    state, _ = TrainPageState.from_query({"net": "classic"})
    assert state.model_config == NETWORK_PRESETS["classic"] and state.optimizer == TrainConfig().optimizer


def test_the_tutorial_presets():
    assert TUTORIAL_PRESETS == ("classic", "keras", "four_conv") and set(TUTORIAL_PRESETS) == set(PRESET_RECIPES)
    assert {"classic", "default"} <= set(NETWORK_PRESETS)
    assert all(isinstance(cfg.hidden, tuple) for cfg in NETWORK_PRESETS.values())
    assert ModelConfig(hidden=(1024, 128)).hidden == NETWORK_PRESETS["four_conv"].hidden


# --- the page, through AppTest ----------------------------------------------------------------------------------

def summary(app) -> str:
    return next(m.value for m in app.markdown if "trainable parameters" in m.value)


PARAMS = {"classic": "220,234", "keras": "93,322", "four_conv": "2,327,818"}


@pytest.mark.parametrize("name", sorted(NETWORK_PRESETS))
def test_choosing_a_preset_builds_it_with_its_recipe(name):
    app = run_page("train")
    app.selectbox(key="train_preset").set_value(name).run()
    assert not app.exception
    cfg, recipe = NETWORK_PRESETS[name], preset_recipe(name)
    params = summarize(cfg).total_params
    assert summary(app).startswith(f"**{params:,}** trainable parameters")
    if name in PARAMS:
        assert PARAMS[name] == f"{params:,}"
    assert page_state(app, "train").model_config == cfg
    assert app.text_input(key="train_hidden").value == format_hidden(cfg.hidden)
    assert app.number_input(key="train_blocks").value == len(cfg.blocks)
    assert [app.number_input(key=f"train_b{i}_padding").value for i in range(len(cfg.blocks))] == \
        [b.padding for b in cfg.blocks]
    assert (app.selectbox(key="train_optimizer").value, app.number_input(key="train_lr").value,
            app.selectbox(key="train_schedule").value, app.select_slider(key="train_batch").value,
            app.number_input(key="train_epochs").value) == (recipe.optimizer, recipe.lr, recipe.schedule,
                                                            recipe.batch_size, recipe.epochs)
    assert app.query_params.get("net") == (None if name == "default" else name)
    assert not app.button(key="train_start").disabled


def test_the_four_conv_table_and_export():
    app = run_page("train", query={"net": "four_conv"})
    names = list(app.dataframe[0].value.iloc[:, 0])
    assert names == ["conv1", "conv2", "pool2", "conv3", "conv4", "pool4", "flatten", "fc1", "fc2", "fc3"]
    code = app.code[0].value
    assert "nn.Linear(in_features=2048, out_features=1024, bias=True)" in code
    assert "nn.Linear(in_features=1024, out_features=128, bias=True)" in code and "2,327,818 trainable" in code


def test_typing_hidden_widths():
    app = run_page("train")
    app.text_input(key="train_hidden").input("1024, 128").run()
    assert page_state(app, "train").hidden == (1024, 128) and app.query_params["fc"] == "1024,128"
    assert [n for n in app.dataframe[0].value.iloc[:, 0] if n.startswith("fc")] == ["fc1", "fc2", "fc3"]
    app.text_input(key="train_hidden").input("1024, lots").run()
    assert not app.exception
    assert '"1024, lots" is not a list of widths' in app.error[0].value and "keeps 1024, 128" in app.error[0].value
    assert page_state(app, "train").hidden == (1024, 128)  # the network stays buildable
    app.text_input(key="train_hidden").input("0").run()
    assert page_state(app, "train").hidden == () and not app.error
    assert [n for n in app.dataframe[0].value.iloc[:, 0] if n.startswith("fc")] == ["fc1"]


def test_an_old_link_with_one_hidden_width_opens():
    app = run_page("train", query={"net": "classic", "fc": "32"})
    assert not app.warning  # nothing ignored
    assert app.text_input(key="train_hidden").value == "32" and page_state(app, "train").hidden == (32,)


def test_the_hidden_width_error_reads_in_chinese():
    app = run_page("train", query={"lang": "zh"})
    app.text_input(key="train_hidden").input("64, 零").run()
    assert "不是有效的宽度列表" in app.error[0].value
