"""Classification on a Dask cluster (``dask.distributed``).

The client (the engine process QGIS started) splits the tiling plan into blocks of windows and
submits them to a Dask scheduler; each worker opens the inputs and the model itself (shared
filesystem or GDAL virtual paths such as ``/vsicurl/``), reads its own windows, runs the model
and returns the stitched crops; the client writes them as they arrive into the same streamed
GeoTIFFs as a local run. A worker that dies has its blocks re-run elsewhere by the scheduler.
See ``docs/DISTRIBUTED.md``.
"""
