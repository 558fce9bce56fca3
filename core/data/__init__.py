"""Data loading shared by every task: archives, class folders, splits and the error they raise."""


class DataError(ValueError):
    """Bad input data; the message names the file and what is wrong with it."""
