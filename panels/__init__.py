"""FiftyOne App panels."""
