"""Config: _base_ inheritance, _delete_, typed overrides, YAML round trip, errors."""
import textwrap

import pytest

from jseg_ret.config import Config, ConfigError, parse_cfg_options


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.fixture
def cfg_tree(tmp_path):
    write(tmp_path / "_base_" / "model.py", """
        norm_cfg = dict(type='BN', requires_grad=True)
        model = dict(type='EncoderDecoder',
                     backbone=dict(type='B', depths=[2, 2], norm_cfg=norm_cfg),
                     decode_head=dict(type='H', num_classes=150, loss=dict(type='CE', w=1.0)))
        """)
    write(tmp_path / "_base_" / "sched.py", """
        import math  # modules are not config keys
        optimizer = dict(type='AdamW', lr=1e-4)
        """)
    return write(tmp_path / "exp" / "child.py", """
        _base_ = ['../_base_/model.py', '../_base_/sched.py']
        model = dict(decode_head=dict(num_classes=19, loss=dict(_delete_=True, type='Focal')))
        optimizer = dict(lr=2e-4)
        """)


def test_base_inheritance_and_merge(cfg_tree):
    cfg = Config.fromfile(cfg_tree)
    assert cfg.model.type == "EncoderDecoder"
    assert cfg.model.backbone.depths == [2, 2]
    assert cfg.model.decode_head.num_classes == 19
    assert cfg.optimizer == {"type": "AdamW", "lr": 2e-4}
    assert "math" not in cfg
    # _delete_ replaced the inherited dict instead of merging into it
    assert cfg.model.decode_head.loss == {"type": "Focal"}


def test_cfg_options_typed(cfg_tree):
    cfg = Config.fromfile(cfg_tree)
    cfg.merge_from_dict(parse_cfg_options([
        "model.decode_head.num_classes=21", "optimizer.lr=0.001", "model.backbone.depths=[3,4]",
        "+flag=true", "+nothing=None", "+name=abc", "+pair=1,2", "model.backbone.depths.0=5"]))
    assert cfg.model.decode_head.num_classes == 21
    assert cfg.optimizer.lr == pytest.approx(0.001)
    assert cfg.model.backbone.depths == [5, 4]
    assert cfg.flag is True and cfg.nothing is None and cfg.name == "abc"
    assert cfg.pair == [1, 2]


def test_yaml_round_trip(cfg_tree, tmp_path):
    cfg = Config.fromfile(cfg_tree)
    out = tmp_path / "dump.yaml"
    cfg.dump(str(out))
    again = Config.fromfile(str(out))
    assert again.to_dict() == Config(cfg.to_dict()).to_dict()
    assert again.model.decode_head.num_classes == 19


def test_missing_base_names_file(tmp_path):
    path = write(tmp_path / "c.py", "_base_ = ['nope/missing.py']\n")
    with pytest.raises(ConfigError, match=r"c\.py.*missing\.py"):
        Config.fromfile(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Config.fromfile(str(tmp_path / "absent.py"))


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="key=value"):
        parse_cfg_options(["model.decode_head.num_classes"])
    with pytest.raises(ConfigError, match="empty key"):
        parse_cfg_options(["model..x=1"])


def test_override_through_scalar_names_key(cfg_tree):
    cfg = Config.fromfile(cfg_tree)
    with pytest.raises(ConfigError, match="model.decode_head.num_classes"):
        cfg.merge_from_dict({"model.decode_head.num_classes.x": 1})


def test_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path / "broken.py", "a = 1\nb = (\n")
    with pytest.raises(ConfigError, match=r"broken\.py, line"):
        Config.fromfile(path)


def test_circular_base(tmp_path):
    write(tmp_path / "a.py", "_base_ = ['b.py']\n")
    path = write(tmp_path / "b.py", "_base_ = ['a.py']\n")
    with pytest.raises(ConfigError, match="circular"):
        Config.fromfile(path)


def test_unknown_attribute_lists_keys(cfg_tree):
    cfg = Config.fromfile(cfg_tree)
    with pytest.raises(AttributeError, match="decode_head"):
        _ = cfg.model.decoder
