"""Health components (Xid, ECC, throttling, missing devices, persistence, collection, vendor, host)."""
