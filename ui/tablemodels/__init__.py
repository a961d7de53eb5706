"""Qt table models for the Models page: plain rows in, cells out; testable without widgets."""
