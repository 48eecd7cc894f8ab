"""VirtFusion (KVM VPS) provisioning: client.py speaks the API, driver.py implements ProvisioningDriver."""
