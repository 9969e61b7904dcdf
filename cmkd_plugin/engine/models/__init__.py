"""Teacher and student models, losses, temperature schedule, model files, metrics and cost.

Modules (importing this package imports nothing; torch is needed only by the starred ones):

* ``config``: :class:`TeacherConfig`, :class:`StudentConfig`, modality names (torch-free);
* ``teacher``* / ``student``*: the models (``teacher`` also :class:`TeacherEnsemble`, several
  teachers answering as one); ``build``*: ``build_model(config)``;
* ``layers``*: shared blocks and :class:`ModelOutput` (logits, features, valid, used);
* ``losses``*: masked class-weighted CE, distillation loss, class-balanced weights;
* ``schedule``: ``temperature_at(epoch, n_epochs, start, end, kind)`` (torch-free);
* ``card``: :class:`ModelCard` (torch-free); ``fileformat``: header checks and ``read_card``
  (torch-free); ``modelfile``*: ``save_model`` / ``load_model``;
* ``preprocess``: DEM slope/hillshade, band statistics, normalisation (numpy);
* ``guided``*: refinement of coarse class probabilities by the RGB (guided filter);
* ``resample``: teacher grid -> reference grid crops and bilinear upsampling (torch when
  called), nearest masks (numpy);
* ``metrics``: confusion matrix, OA, kappa, F1, producer's/user's accuracy (numpy);
* ``flops``*: parameter count, multiply-adds per pixel, measured throughput;
* ``inference``*: ``predict(model, inputs)`` -> probabilities (NaN on nodata), classes, valid.
"""
