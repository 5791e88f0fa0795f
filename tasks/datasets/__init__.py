"""Datasets: one spec string, a validated selection, a stable fingerprint, bounded chunks.

Plain functions (no Prefect) that the pipeline's tasks wrap.  A *spec* names the data:

``fashion_mnist`` (default), ``mnist``
    Loaded through ``keras.datasets.<name>.load_data()``, so the files live in Keras' cache
    (``$KERAS_HOME/datasets/...``, default ``~/.keras``) and are downloaded only once.
``cifar10``, ``cifar100``
    Through ``keras.datasets`` too: 32x32 RGB (CIFAR-100 with its fine labels).
``skimage[:NAME,NAME]``
    The colour photographs inside scikit-image's wheel (astronaut, coffee, ...), read by path.
``idx:PATH``
    A folder of IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``); a split needs only
    its own two files.
``images:PATH``
    A folder of PNG/JPEG/BMP files, searched recursively, decoded to grayscale and sorted by
    path; images in class folders are labelled by the folder name.
``sample``
    The bundled raster images of matplotlib's ``sample_data`` (grace_hopper.jpg first), for
    a demo without network.

``colour=True`` reads (n, h, w, 3) RGB, channels last; grey data is broadcast to three
equal channels (see docs/datasets.md, Colour).

A *selection* is ``split`` (train | test | all) then ``start``/``stop`` positions within the
split, then the ``classes`` filter, then the first ``limit`` images.  :func:`open_dataset`
returns a :class:`DatasetView` of it (image folders are decoded lazily, chunk by chunk);
:func:`read_images` reads it whole into a :class:`Dataset`.

Errors: bad arguments raise ``ValueError`` (``TypeError`` for wrong types) naming the
argument and the value; data that cannot be read (offline and not cached, corrupt or
truncated files, unreadable images) raises :class:`DatasetError` with one message that says
what was tried and how to get out.  Only a failed download is retried (by the Keras loader,
:data:`~convsweep.tasks.datasets.keras_source.DOWNLOAD_RETRY_DELAYS`), and it then raises
:class:`DownloadError` (``transient``); nothing else is retried.

Modules, each importing only those listed before it: ``errors``, ``spec``, ``idx_format``
(the IDX file format), ``fingerprints``, ``memo`` (per-process memo, file identity),
``selection``, ``view`` (views, loaded datasets, in-memory store), ``keras_files`` (the Keras
cache's files read without Keras, for workers), the sources ``keras_source``, ``idx_source``,
``image_folder``, ``sample_source``, ``skimage_source``, ``opening``
(:func:`open_dataset`, :func:`read_images`) and ``identity_index`` (a selection described
from ``<cache folder>/datasets/index.json`` while its files are unchanged; content
fingerprints of chunks and samples).
"""

from convsweep.tasks.datasets.errors import DatasetError, DownloadError
from convsweep.tasks.datasets.fingerprints import fingerprint
from convsweep.tasks.datasets.keras_source import keras_cache_folder
from convsweep.tasks.datasets.memo import clear_caches
from convsweep.tasks.datasets.opening import open_dataset, read_images
from convsweep.tasks.datasets.selection import iter_chunks
from convsweep.tasks.datasets.spec import FASHION_MNIST_CLASSES, KINDS, MNIST_CLASSES, SPLITS, DatasetSpec, parse_spec
from convsweep.tasks.datasets.view import Dataset, DatasetView

__all__ = [
    "SPLITS",
    "KINDS",
    "FASHION_MNIST_CLASSES",
    "MNIST_CLASSES",
    "DatasetError",
    "DownloadError",
    "DatasetSpec",
    "DatasetView",
    "Dataset",
    "parse_spec",
    "open_dataset",
    "read_images",
    "iter_chunks",
    "fingerprint",
    "keras_cache_folder",
    "clear_caches",
]
