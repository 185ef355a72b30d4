// The parts of the ZAF SDK (npm `zendesk_app_framework_sdk`, plain CommonJS without types)
// that this app uses.
declare module 'zendesk_app_framework_sdk' {
  export interface ZafClient {
    get(path: string | string[]): Promise<Record<string, unknown>>;
    invoke(name: string, ...args: unknown[]): Promise<unknown>;
    on(event: string, handler: (...args: unknown[]) => void): void;
    metadata(): Promise<{ settings: Record<string, unknown> }>;
    request(options: Record<string, unknown>): Promise<unknown>;
  }
  const ZAFClient: {
    /** Returns false when the page was not opened by Zendesk (no origin/app_guid in its URL). */
    init(callback?: (context: unknown) => void): ZafClient | false;
  };
  export default ZAFClient;
}
