"""Menu entries: one per algorithm of the provider, each opening its Processing dialog.

Only used when QGIS runs with a GUI (qgis_process never calls ``initGui``).
"""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QAction

MENU = "&CMKD Survey"
#: Shown first in the menu: without an engine nothing else runs.
SETUP_ALGORITHM = "setupengine"


def _open_algorithm(alg_id: str) -> None:
    from processing import execAlgorithmDialog

    execAlgorithmDialog(alg_id, {})


def menu_order(algorithms) -> list:
    """"Set up engine" first, then the others by group and name."""
    return sorted(algorithms, key=lambda a: (a.name() != SETUP_ALGORITHM, a.group(),
                                             a.displayName()))


def add_menu_actions(iface, provider) -> list:
    actions = []
    for alg in menu_order(provider.algorithms()):
        action = QAction(alg.icon(), alg.displayName() + "…", iface.mainWindow())
        action.triggered.connect(lambda _checked=False, a=alg.id(): _open_algorithm(a))
        iface.addPluginToMenu(MENU, action)
        actions.append(action)
    return actions


def remove_menu_actions(iface, actions: list) -> None:
    for action in actions:
        iface.removePluginMenu(MENU, action)
