"""Operator tools that act on a deployed stack (AWS, or the sandbox with ``--endpoint-url``).

Not shipped in the Lambda layer.
"""
