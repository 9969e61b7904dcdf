"""Menu entries: one per algorithm of the provider, each opening its Processing dialog.

Only used when QGIS runs with a GUI (qgis_process never calls ``initGui``).
"""

from __future__ import annotations

from qgis.PyQt.QtWidgets import QAction

MENU = "&CMKD Survey"


def _open_algorithm(alg_id: str) -> None:
    from processing import execAlgorithmDialog

    execAlgorithmDialog(alg_id, {})


def add_menu_actions(iface, provider) -> list:
    actions = []
    for alg in sorted(provider.algorithms(), key=lambda a: (a.group(), a.displayName())):
        action = QAction(alg.icon(), alg.displayName() + "…", iface.mainWindow())
        action.triggered.connect(lambda _checked=False, a=alg.id(): _open_algorithm(a))
        iface.addPluginToMenu(MENU, action)
        actions.append(action)
    return actions


def remove_menu_actions(iface, actions: list) -> None:
    for action in actions:
        iface.removePluginMenu(MENU, action)
