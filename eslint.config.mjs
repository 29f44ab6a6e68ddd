import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      'coverage/**',
      'bin/**',
      'test/replay/histories/**',
      'lib/client/openapi.ts',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The workflow sandbox: deterministic code only. A value import of anything else (ssh2, pg,
    // activities) would break the bundle or determinism, so it fails here, at edit time.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/workflow$|@temporalio/common$|@temporalio/common/lib/|\\.)',
              message: 'Workflow files import only @temporalio/workflow, @temporalio/common and other workflow files.',
            },
            {
              // lib/failures.ts, lib/ceph-releases.ts and lib/plans/ are pure (no imports beyond each
              // other, checked by .dependency-cruiser.cjs): workflow code may use them.
              regex: '(^|/)(drivers|db|api|worker|scripts)(/|$)|(^|/)lib/(?!(failures|ceph-releases)$|plans/)',
              message:
                'Workflow files must not reach drivers, the database, the API or impure lib modules: those belong in activities.',
            },
            {
              regex: '(^|/)activities(/|$)',
              allowTypeImports: true,
              message: 'Import activities with `import type` only.',
            },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': 'off',
    },
  },
);
