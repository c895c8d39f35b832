"""The architectures: one module each, found by the registry (:mod:`bowsflow.models.registry`), which
imports every module of this package. Adding an architecture is adding a module here."""
