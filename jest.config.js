/** @type {import('jest').Config} */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }];

const project = (name, extra = {}) => ({
  displayName: name,
  testMatch: [`<rootDir>/test/${name}/**/*.test.ts`],
  transform: { '^.+\\.ts$': tsJest },
  testEnvironment: 'node',
  ...extra,
});

module.exports = {
  projects: [project('unit'), project('integration'), project('e2e', { slowTestThreshold: 300 })],
};
