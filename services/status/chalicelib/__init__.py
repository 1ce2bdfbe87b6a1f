"""The status service's own logic: parsing Twilio's status callback and recording it."""
