"""brandkit: make for AI-generated brand assets.

The package reads as the flow it implements:
load -> validate (manifest) -> expand -> plan -> execute -> derive -> publish.
"""

__version__ = "0.1.0"
