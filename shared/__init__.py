"""The core of the guest onboarding app: everything that decides anything, independent of how it was called.

Only :mod:`shared.bindings` knows about ``azure.functions``.
"""
