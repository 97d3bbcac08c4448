"""Live view on demand: embedded HLS remuxing (``embedded``) or ZLMediaKit (``zlm``)."""
