import pytest

from jseg_ret.registry import BACKBONES, HEADS, LOSSES, MODELS, Registry, build_from_cfg


def test_unknown_type_lists_close_matches():
    with pytest.raises(KeyError) as e:
        BACKBONES.build(dict(type="VisRetnet"))
    assert "VisRetNet" in str(e.value) and "backbone registry" in str(e.value)


def test_builtins_registered():
    assert "VisRetNet" in BACKBONES and "SegFormerHeadWithRes" in HEADS
    assert "CrossEntropyLoss" in LOSSES and "EncoderDecoder" in MODELS


def test_duplicate_registration_refused():
    reg = Registry("thing")

    @reg.register_module()
    class A:
        pass

    with pytest.raises(KeyError, match="already registered"):
        reg.register_module(name="A", module=type("A", (), {}))


def test_bad_argument_names_class_and_accepted_args():
    reg = Registry("thing")

    @reg.register_module()
    class Widget:
        def __init__(self, size, color="red"):
            self.size = size

    assert build_from_cfg(dict(type="Widget", size=3), reg).size == 3
    with pytest.raises(TypeError, match=r"Widget.*size, color"):
        build_from_cfg(dict(type="Widget", sise=3), reg)
    with pytest.raises(KeyError, match="no 'type'"):
        build_from_cfg(dict(size=3), reg)
