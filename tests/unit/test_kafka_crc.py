"""kafka-python checks each record batch's CRC-32C with the C implementation (the ``crc32c``
package), not its pure-Python fallback (about 6 MB/s: some 4% of the consumer's CPU)."""

from __future__ import annotations

import crc32c
from kafka.record import util


def test_kafka_python_uses_the_c_crc32c() -> None:
    assert util._crc32c is crc32c.crc32c


def test_the_crc_is_castagnolis() -> None:
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # the standard check value of CRC-32C
    assert util.calc_crc32c(b"123456789") == util.crc32c_py(b"123456789")
