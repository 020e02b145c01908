"""The provider documents, shipped inside the wheel as the package ``emulator.openapi``.

The YAML files here are the single source of truth; read them with
``emulator.spec.document_text(provider)`` or ``emulator.spec.spec_dir()``.
"""
