"""--cfg-options: unknown keys are errors naming close matches, '+key' adds, values parse or
fail naming the option (issue 17, items 12 and 17)."""
import os

import pytest

import run_net
from jseg_ret.config import Config, ConfigError, parse_cfg_options
from tests.helpers.paths import ROOT

BASE = dict(runner=dict(type="IterBasedRunner", max_iters=4),
            optimizer=dict(type="AdamW", lr=1e-4, weight_decay=0.01),
            model=dict(decode_head=dict(num_classes=19, channels=[1, 2])))


def apply(*options):
    cfg = Config(BASE)
    cfg.merge_from_dict(parse_cfg_options(list(options)))
    return cfg


@pytest.mark.parametrize("option, typo, suggestion", [
    ("runner.max_iter=1", "runner.max_iter", "max_iters"),
    ("optimzer.lr=5", "optimzer", "optimizer"),
    ("model.decode_head.num_class=3", "model.decode_head.num_class", "num_classes"),
])
def test_misspelled_key_is_an_error_naming_close_matches(option, typo, suggestion):
    with pytest.raises(ConfigError) as err:
        apply(option)
    msg = str(err.value)
    assert typo in msg and suggestion in msg and "+" in msg  # says how to add a new key


def test_unknown_key_leaves_config_untouched():
    cfg = Config(BASE)
    with pytest.raises(ConfigError):
        cfg.merge_from_dict(parse_cfg_options(["optimizer.lr=5", "optimzer.lr=5"]))
    assert cfg.optimizer.lr == 1e-4 and "optimzer" not in cfg


def test_plus_prefix_adds_new_keys_and_existing_keys_still_override():
    cfg = apply("+runner.max_epochs=3", "+data.train.on_bad_sample=skip", "runner.max_iters=2",
                "model.decode_head.channels.1=5")
    assert cfg.runner.max_epochs == 3 and cfg.data.train.on_bad_sample == "skip"
    assert cfg.runner.max_iters == 2 and cfg.model.decode_head.channels == [1, 5]
    # '+' on a key that already exists just overrides it
    assert apply("+optimizer.lr=0.5").optimizer.lr == 0.5


@pytest.mark.parametrize("option", ["optimizer.lr=1e-3)", "optimizer.lr=[1, 2",
                                    "model.decode_head.channels=(1,2]", "a='x"])
def test_malformed_value_names_the_option(option):
    with pytest.raises(ConfigError) as err:
        parse_cfg_options([option])
    assert option in str(err.value)


def test_plain_words_and_paths_stay_strings():
    out = parse_cfg_options(["a=abc", "b=work_dirs/x-1.pth", "c=SyncBN", "d=1e-3", "e=1,2"])
    assert out == {"a": "abc", "b": "work_dirs/x-1.pth", "c": "SyncBN", "d": 1e-3, "e": [1, 2]}


def test_text_for_a_number_is_an_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"optimizer\.lr.*number"):
        apply("optimizer.lr=fast")


@pytest.mark.parametrize("option, expect", [("runner.max_iter=1", "max_iters"),
                                            ("optimzer.lr=5", "optimizer"),
                                            ("optimizer.lr=1e-3)", "optimizer.lr=1e-3)")])
def test_run_net_refuses_with_one_error_line(option, expect, tmp_path, capsys):
    cfg = os.path.join(ROOT, "configs", "quickstart", "segret-t_synthetic.py")
    assert run_net.main(["--config-file", cfg, "--task", "train", "--work-dir", str(tmp_path),
                         "--cfg-options", option]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expect in err and "Traceback" not in err
    assert not os.listdir(tmp_path)  # nothing started
