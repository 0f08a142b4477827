"""What an operator reads: metrics, diagnostics and the debug routes."""
