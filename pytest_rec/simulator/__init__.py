"""The built-in simulated ETERNUS AF/DX array (independent of the compliance suite)."""

from .array import Array, Settings
from .defects import DEFECTS, Defect
from .inventory import Inventory, load_inventory, target_file_text
from .server import SimulatorServer

__all__ = ["Array", "Settings", "DEFECTS", "Defect", "Inventory", "load_inventory",
           "target_file_text", "SimulatorServer"]
