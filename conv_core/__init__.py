"""conv_core: the exact, batched numeric core of convsweep (numpy + OpenCV, no I/O).

>>> import numpy as np, conv_core
>>> images = np.zeros((2, 28, 28), np.uint8)
>>> gx = convsweep.conv_core.conv2d(images, convsweep.conv_core.kernels.get("sobel_h"))
>>> gy = convsweep.conv_core.conv2d(images, convsweep.conv_core.kernels.get("sobel_v"))
>>> convsweep.conv_core.pool2d(convsweep.conv_core.sobel_magnitude(gx, gy), 2).shape
(2, 13, 13)
>>> convsweep.conv_core.output_size(27, 3)
25
"""

from convsweep.conv_core import kernels
from convsweep.conv_core.arithmetic import (
    conv_formula,
    effective_kernel_size,
    output_size,
    receptive_field,
    resolve_padding,
    resolve_pool_padding,
)
from convsweep.conv_core.conv import CHANNEL_MODES, PAD_MODES, conv2d, sobel_magnitude
from convsweep.conv_core.pooling import POOL_MODES, pool2d
from convsweep.conv_core.resize import INTERPOLATIONS, resize

__all__ = [
    "CHANNEL_MODES",
    "INTERPOLATIONS",
    "PAD_MODES",
    "POOL_MODES",
    "conv2d",
    "conv_formula",
    "effective_kernel_size",
    "kernels",
    "output_size",
    "pool2d",
    "receptive_field",
    "resize",
    "resolve_padding",
    "resolve_pool_padding",
    "sobel_magnitude",
]
