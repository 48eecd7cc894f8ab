"""Pterodactyl (game servers) provisioning: client.py speaks the API, driver.py implements ProvisioningDriver."""
