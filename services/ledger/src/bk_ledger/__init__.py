"""Bright Kitchen ledger (电子台账): e-ledgers, suppliers, staff certificates, IoT sensors and rules."""
