DROP TABLE vapi_credentials;
