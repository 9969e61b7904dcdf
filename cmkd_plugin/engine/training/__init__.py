"""Training pipeline: data assembly, teacher training, cross-modal distillation, RGB baseline,
metrics and reports. Never imports qgis; torch is imported by the modules that need it."""
