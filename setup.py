from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as f:
    long_description = f.read()

# TensorBoard logging (tensorboardX writes, tensorboard reads and shows), curve and
# confusion-matrix plots (tools/analyze_logs.py, tools/confusion_matrix.py)
VIS = ["tensorboardX", "tensorboard", "matplotlib"]

setup(
    name="jseg_ret",
    version="0.1.0",
    description="SegRet, SegNeXt and FRM semantic segmentation in Jittor",
    long_description=long_description,
    long_description_content_type="text/markdown",
    packages=find_packages(include=["jseg_ret", "jseg_ret.*"]),
    package_data={"jseg_ret.ops": ["kernels/*.cu", "kernels/*.cc", "kernels/*.h"]},
    python_requires=">=3.8",
    install_requires=[
        "jittor>=1.3.11,<1.4",
        "numpy",
        "pillow",
        "pyyaml",
        "tqdm",
    ],
    extras_require={
        # torch is pinned exactly: any other spec pulls several GB of CUDA wheels. The tests
        # also exercise the [vis] tools.
        "test": ["pytest", "torch==2.13.0"] + VIS,
        "vis": VIS,
    },
)
