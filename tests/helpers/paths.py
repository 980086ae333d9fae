"""Where the checkout, its tools and the shared reference files are."""
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOLS = os.path.join(ROOT, "tools")
CONFIGS = os.path.join(ROOT, "configs")
# reference tables and fixtures kept outside the repository (next to the checkout by default)
SHARED = os.environ.get("JSEG_RET_SHARED", os.path.join(os.path.dirname(ROOT), "shared"))


def subprocess_env(**extra):
    """os.environ for a child Python that imports this checkout's jseg_ret and its tools.

    pytest.ini's ``pythonpath`` only reaches this process; a child gets it through PYTHONPATH,
    the checkout first so that it wins over an installed jseg_ret."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, TOOLS]), **extra)
