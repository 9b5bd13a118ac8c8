import {
  acceptBacklog,
  connectionLimit,
  MAX_ACCEPT_BACKLOG,
  openFilesLimit,
  RESERVED_DESCRIPTORS,
} from '../../src/master/descriptor-limit';

const limits = (soft: string): string =>
  `Limit                     Soft Limit           Hard Limit           Units\nMax open files            ${soft}                 1048576              files\n`;

describe('the descriptor limit', () => {
  it('reads the soft limit on open files, or nothing', () => {
    expect(openFilesLimit(() => limits('1024'))).toBe(1024);
    expect(openFilesLimit(() => limits('unlimited'))).toBeUndefined();
    expect(
      openFilesLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
    expect(openFilesLimit()).toBeGreaterThan(RESERVED_DESCRIPTORS);
  });

  it('lowers the connection limit to what the descriptors allow, never below 1', () => {
    expect(connectionLimit(10_000, undefined)).toBe(10_000);
    expect(connectionLimit(10_000, 1024)).toBe(1024 - RESERVED_DESCRIPTORS);
    expect(connectionLimit(100, 1024)).toBe(100);
    expect(connectionLimit(100, 10)).toBe(1);
  });

  it('sizes the accept backlog to the connection limit, within what listen() takes', () => {
    expect(acceptBacklog(10_000)).toBe(10_000);
    expect(acceptBacklog(10)).toBe(511);
    expect(acceptBacklog(1_000_000)).toBe(MAX_ACCEPT_BACKLOG);
  });
});
