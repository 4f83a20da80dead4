/** The fixed, documented credentials of the local service (never real ones). */
export const LOCAL_ACCESS_KEY = 'AKLOCALARKBATCH0000000000';
export const LOCAL_SECRET_KEY = 'SKLOCALARKBATCHSECRET00000000000000000000';
export const LOCAL_API_KEY = 'ark-local-api-key';
export const LOCAL_REGION = 'cn-beijing';
