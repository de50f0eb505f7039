-- adcli in Neovim: `.ad` files get the filetype `adcli`, and `adcli lsp` serves them
-- (pip install "adcli[lsp]"). Copy this file to ~/.config/nvim/plugin/ (run at start-up), or
-- call dofile() on it from init.lua.

-- Needs Neovim 0.8 or later (0.7 only with vim.g.do_filetype_lua = 1 early in init.lua): older
-- detection takes `.ad` for X resource files.
vim.filetype.add({ extension = { ad = 'adcli' } })

vim.api.nvim_create_autocmd('FileType', {
  pattern = 'adcli',
  callback = function()
    vim.bo.commentstring = '# %s' -- for gc and other comment commands
    vim.bo.expandtab = true
    vim.bo.shiftwidth = 4
    vim.bo.softtabstop = 4
    -- There is no Vim syntax file for adcli; Python's suits it (`#` comments, def, for ... in range).
    vim.bo.syntax = 'python'
  end,
})

-- Neovim 0.11 and later: the built-in client starts the server for every adcli buffer, with the
-- enclosing git repository (or, outside one, the file alone) as its workspace.
if vim.fn.has('nvim-0.11') == 1 then
  vim.lsp.config('adcli', {
    cmd = { 'adcli', 'lsp' },
    filetypes = { 'adcli' },
    root_markers = { '.git' },
  })
  vim.lsp.enable('adcli')
end

-- Older Neovim, with the nvim-lspconfig plugin (the block above is skipped there): uncomment this.
--
-- local configs = require('lspconfig.configs')
-- if not configs.adcli then
--   configs.adcli = {
--     default_config = {
--       cmd = { 'adcli', 'lsp' },
--       filetypes = { 'adcli' },
--       root_dir = require('lspconfig.util').root_pattern('.git'),
--       single_file_support = true, -- a file outside any repository gets a server too
--     },
--   }
-- end
-- require('lspconfig').adcli.setup({})
