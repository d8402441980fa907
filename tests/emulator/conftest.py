from tests.emulator.fixture import emulator

__all__ = ["emulator"]
