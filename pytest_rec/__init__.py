"""pytest-rec: compliance suite for PATCH /api/v1/copysession/{id} of the ETERNUS AF/DX REST API."""

__version__ = "0.1.0"
__all__ = ["__version__"]
