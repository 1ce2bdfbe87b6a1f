"""The local stack: DynamoDB Local, the three services and the Twilio sandbox on this machine."""
