"""Engine commands: ``python -m cmkd_plugin.engine <name> ...``.

Each command lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args, feedback) -> dict`` (the outputs). Modules are imported only when their command runs,
so ``--help`` is instant and torch is imported only by the commands that need it.
"""

COMMANDS: dict[str, str] = {
    "enginecheck": "cmkd_plugin.engine.commands.enginecheck",
    "simulate": "cmkd_plugin.engine.commands.simulate",
    "classify": "cmkd_plugin.engine.commands.classify",
    "evaluate": "cmkd_plugin.engine.commands.evaluate",
    "trainteacher": "cmkd_plugin.engine.commands.trainteacher",
    "distillstudent": "cmkd_plugin.engine.commands.distillstudent",
    "tunedistillation": "cmkd_plugin.engine.commands.tunedistillation",
    "carbonation": "cmkd_plugin.engine.commands.carbonation",
    "exportedge": "cmkd_plugin.engine.commands.exportedge",
    "adaptsite": "cmkd_plugin.engine.commands.adaptsite",
}
