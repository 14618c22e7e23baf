"""The reader of the time-only toy (`toy_time`; its record's `reader_module`): the toy's files and lists,
checked to be of the time-only kind (zeroi2v.data.toy, zeroi2v.data.toy_time)."""
from zeroi2v.data.toy import TIME_READER as READER  # noqa: F401
