"""mmcv's ``custom_imports``: a config imports user modules (which register hooks, datasets,
models) before anything is built."""
import sys
import textwrap

import pytest

from jseg_ret.config import Config, ConfigError
from jseg_ret.engine.hooks import Hook
from jseg_ret.registry import HOOKS

HOOK_MODULE = """
from jseg_ret.engine.hooks import Hook
from jseg_ret.registry import HOOKS


@HOOKS.register_module()
class {name}(Hook):
    pass
"""


def write_config(tmp_path, body):
    path = tmp_path / "cfg.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_custom_imports_register_user_hooks(tmp_path, monkeypatch):
    name = "UserHookFromCustomImports"
    (tmp_path / "user_hooks_mod.py").write_text(HOOK_MODULE.format(name=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert HOOKS.get(name) is None
    cfg = write_config(tmp_path, f"""
        custom_imports = dict(imports=["user_hooks_mod"], allow_failed_imports=False)
        custom_hooks = [dict(type="{name}", priority="LOW")]
    """)
    Config.fromfile(cfg)
    hook_cls = HOOKS.get(name)
    assert hook_cls is not None and issubclass(hook_cls, Hook)
    assert "user_hooks_mod" in sys.modules


def test_a_missing_module_is_a_config_error_naming_it(tmp_path):
    cfg = write_config(tmp_path, """
        custom_imports = dict(imports=["no_such_user_module_xyz"])
    """)
    with pytest.raises(ConfigError, match="no_such_user_module_xyz") as e:
        Config.fromfile(cfg)
    assert str(cfg) in str(e.value)


def test_allow_failed_imports_skips_missing_modules(tmp_path):
    cfg = write_config(tmp_path, """
        custom_imports = dict(imports=["no_such_user_module_xyz"], allow_failed_imports=True)
    """)
    assert Config.fromfile(cfg).custom_imports.imports == ["no_such_user_module_xyz"]


@pytest.mark.parametrize("spec", ["dict(imports=3)", "['a']", "dict(imports=['a', 1])"])
def test_malformed_custom_imports_is_a_config_error(tmp_path, spec):
    cfg = write_config(tmp_path, f"custom_imports = {spec}\n")
    with pytest.raises(ConfigError, match="custom_imports"):
        Config.fromfile(cfg)
