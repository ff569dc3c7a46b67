"""The built-in simulated ETERNUS AF/DX array (independent of the compliance suite).

May import: nothing of pytest_rec outside ``simulator/`` (an implementation of the reference of its own,
never the suite's expected-behaviour model). The names below are its public face.
"""

from .array import Array
from .settings import Settings
from .defects import DEFECTS, Defect
from .inventory import Inventory, load_inventory
from .server import SimulatorServer
from .targetfile import target_file_text

__all__ = ["Array", "Settings", "DEFECTS", "Defect", "Inventory", "load_inventory",
           "target_file_text", "SimulatorServer"]
