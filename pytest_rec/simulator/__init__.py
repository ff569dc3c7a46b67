"""The built-in simulated ETERNUS AF/DX array (independent of the compliance suite)."""

from .array import Array
from .settings import Settings
from .defects import DEFECTS, Defect
from .inventory import Inventory, load_inventory
from .server import SimulatorServer
from .targetfile import target_file_text

__all__ = ["Array", "Settings", "DEFECTS", "Defect", "Inventory", "load_inventory",
           "target_file_text", "SimulatorServer"]
