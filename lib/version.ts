/** The server's version, shown in every greeting and in the start-up log. */
export const VERSION = "0.1.0";
