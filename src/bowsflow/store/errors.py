"""The error every store check raises."""


class StoreIntegrityError(RuntimeError):
    """A store is damaged: a chunk is missing, truncated or altered, or its metadata is. The message names
    the store, the array and the chunk (or the file), and what to do."""
