"""The native REST API (``/api/v1/``): what every viewset shares.

``mixins`` scopes querysets to what the caller may see, ``exceptions`` renders
every error in one envelope, ``pagination`` caps page sizes, ``throttling``
counts requests per API key, ``schema`` documents it all for OpenAPI.
"""
