"""The local stack: the AWS emulator, the three services and the Twilio sandbox on this machine."""
