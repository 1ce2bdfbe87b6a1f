"""The inbound service's own logic: parsing Twilio's inbound form and storing it."""
