"""imgemu's contract-test suite (pytest plugin and checks). Built in a later milestone."""
