"""Administration (管理): tenants, the org tree, sites, camera bindings and users, one by one or imported."""
